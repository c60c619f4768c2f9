"""`python -m evals ...` (same commands as the `evals` console script)."""

from rag_agent.cli_common import run_app

from evals.cli import app

if __name__ == "__main__":
    run_app(app)
