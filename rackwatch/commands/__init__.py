"""The subcommands of `rackwatch`, one module per family; each has `register(sub)`."""
