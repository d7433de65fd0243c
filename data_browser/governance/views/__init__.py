"""Access, lab administration, participants' data, deletion and the audit log, one module
per feature.

Views stay thin: find the object through ``data_browser.access`` (404 when it is out of
reach), check the form, call the feature's functions (``governance.memberships``,
``deletion``, ...), redirect. A rule broken by the input comes back as the page with the
message and status 400; an action the user may not take is a 403. Every state change is a
POST (CSRF-protected by the middleware).
"""
