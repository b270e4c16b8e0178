# The two set-up commands of the README. Both install what is missing first (idempotent).
.PHONY: demo test bootstrap
bootstrap:
	bash scripts/bootstrap.sh
# The demo's base is a transformers Qwen2 model (config/learn.yaml model.arch): its venv too
# (torch 2.x + transformers, ~5 GB the first time, then cached under ~/.cache/swerl).
demo: bootstrap
	bash trainer/install.sh --hf
	npm run --silent demo
test:
	bash scripts/test.sh
