"""Pure core: no I/O, no asyncio, no clock reads, no Faust types."""
