from regscout.cli.main import app

app()
