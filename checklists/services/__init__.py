"""Everything that changes a release, one module per entity.

- ``errors``: ChecklistError and AlreadyDone, the refusals a person can act on
- ``state``: digests, staleness and the release's state (``release_refresh``,
  ``release_transition``), called inside every change's transaction
- ``releases``: ``release_create``, ``release_cancel``
- ``migrations``: a release's files and bundle (upload, git, CI)
- ``items``: ticking items and attaching evidence
- ``signoffs``: sign-offs
- ``ci_results``: what CI reports (check results, secret names, the pull request)

Each service is keyword-only and one transaction, and writes its AuditEvent inside it.
"""
