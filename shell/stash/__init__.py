"""plexsync as a Stash plugin: Stash is one host application; nothing outside this package (and
the ``plexsync stash`` commands) knows it.

* ``plugin``: the entry point Stash runs (``main``): reads Stash's JSON on stdin, runs a hook or
  a task, prints the one JSON object Stash reads, logs to stderr with Stash's level prefixes;
* ``hook``: a scene created or updated in Stash is read, mapped and enqueued; nothing more;
* ``tasks``: the buttons of Stash's Tasks page (sync all, sync changed, reconcile, process,
  retry dead letters, status); ``reconcile``: the reconcile task and its pure comparison;
* ``mapping``: a Stash scene to plexsync's metadata, a pure function;
* ``graphql``: a small client for Stash's GraphQL API, its queries, and screenshots;
* ``settings``: Stash's plugin settings merged with plexsync's own;
* ``autostart``: a detached worker, started when none runs and gone once the queue is empty;
* ``stashlog``: Stash's log line format; ``install``: the plugin folder.

Stash's interfaces as used here are described in STASH.md (the project's shared notes) and in
the fake Stash the tests run against (``tests/fake_stash``).
"""
