"""Every output format of a report, from the typed report: the terminal table, HTML for one report
and for an estate, JSON, CSV, ASFF and OCSF, and the files they are written to."""
