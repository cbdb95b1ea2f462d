"""Pictures and reports for people: contact sheets (``contact_sheet``), PIL charts
(``plots``), the run report and its output files (``report``), optional rerun recordings
(``rerun_log``). Submodules are imported where used; this package imports nothing heavy."""
