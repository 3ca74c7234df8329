from regscout.cli.main import main

main()
