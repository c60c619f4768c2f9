from rag_agent.cli import main

main()
