import click

@click.command()
def demo():
    """Not yet written."""
