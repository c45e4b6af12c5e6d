import click

@click.command()
def evaluate():
    """Not yet written."""
