from reidprune.cli import main

main()
