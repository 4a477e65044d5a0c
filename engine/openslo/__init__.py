"""OpenSLO in and out (``csla openslo export|import``): CSLA objectives as OpenSLO SLOs whose
ratio SLIs read the worker's per-objective ``/metrics`` series, and OpenSLO SLOs as ``csla/v1``
rule-file skeletons. ``mapping`` holds the correspondence, ``export`` and ``importer`` the two
directions; the commands are ``engine.cli.openslo``."""
