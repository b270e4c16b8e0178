# The two set-up commands of the README. Both install what is missing first (idempotent).
.PHONY: demo test bootstrap
bootstrap:
	bash scripts/bootstrap.sh
demo: bootstrap
	npm run --silent demo
test:
	bash scripts/test.sh
