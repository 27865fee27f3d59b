"""The app's views. Each module has ``PATH``, ``TITLE``, ``SUMMARY`` and
``routes(state) -> list[Route]``: a form page at ``PATH``, a POST that checks the form and
submits a job (answering 303 to the job's page), and a result implementing
:class:`intgrad.app.jobs.ViewResult`."""
