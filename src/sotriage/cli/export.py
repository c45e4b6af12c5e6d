import click

@click.command()
def export():
    """Not yet written."""
