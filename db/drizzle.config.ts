/**
 * drizzle-kit reads this to turn db/schema.ts into SQL migrations in db/migrations/
 * (`npm run db:generate`). Migrations are committed and applied by db/migrate.ts at startup, so
 * no database connection is configured here: generation is a pure diff of schema snapshots.
 */
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './db/schema.ts',
  out: './db/migrations',
  strict: true,
  verbose: true,
});
