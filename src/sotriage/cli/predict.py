import click

@click.command()
def predict():
    """Not yet written."""
