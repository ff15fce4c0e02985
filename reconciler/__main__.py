"""`python -m reconciler`: the same as the `meshctl` console script."""

from reconciler.cli import run

if __name__ == "__main__":
    run()
