from aiplane.cli.main import main

main()
