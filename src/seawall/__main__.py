from seawall.cli.main import main

main()
