"""Developer tools, apart from the runtime: a throw-away local Kafka broker (``local_broker``,
for the Kafka tests, the benchmarks and trying the worker) and rule sets cloned to any size
(``clone``, for benchmarks). ``csla dev …`` runs them; nothing that serves users imports them.
"""
