"""`python -m training ...` (same commands as the `training` console script)."""

from rag_agent.cli_common import run_app

from training.cli import app

if __name__ == "__main__":
    run_app(app)
