from litmine.cli import main

main()
