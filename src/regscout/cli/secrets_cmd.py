"""`regscout secrets …`: the key that encrypts stored credentials."""

from __future__ import annotations

import typer

from ..runtime import Runtime
from ..secrets import SecretBox, generate_key, write_key_file
from ..services.audit import Actor
from .output import console, err_console, handle_errors

app = typer.Typer(help="Manage the key that encrypts stored credentials.", no_args_is_help=True)


@app.command("rotate")
@handle_errors
def rotate() -> None:
    """Re-encrypt every stored credential under a new key.

    With the key file, the new key is added first, the credentials are re-encrypted, and then the
    old keys are dropped, so an interruption never leaves a credential without its key. With
    REGSCOUT_SECRET_KEY, the new key is printed: set REGSCOUT_SECRET_KEY to it (old keys may
    follow, comma-separated, until every server has the new one)."""
    runtime = Runtime.from_env()
    old_keys = list(runtime.box.keys)
    new_key = generate_key()
    ring = SecretBox([new_key, *old_keys])
    from_env = runtime.settings.secret_key is not None
    if not from_env:
        write_key_file(runtime.settings.key_file, ring.keys)
    count = runtime.integrations.rotate_secrets(ring, actor=Actor.cli())
    if from_env:
        err_console.print(f"re-encrypted {count} credential(s). Set REGSCOUT_SECRET_KEY to the new key:")
        print(new_key)
        return
    write_key_file(runtime.settings.key_file, [new_key])
    console.print(f"re-encrypted {count} credential(s) under a new key in {runtime.settings.key_file}")


@app.command("generate-key")
def generate() -> None:
    """Print a new key (for REGSCOUT_SECRET_KEY)."""
    print(generate_key())
