"""Journeys: steps, the sweeper that runs them exactly once, entry, exit goals and templates.

The modules, in the order a lead meets them: `entry` enrols (with re-entry and
suppression rules), `engine` claims due enrolments and runs one step each
(`steps` says what a step does), `goals` ends an enrolment early, `mail`
renders and delivers the e-mails steps wrote, `analytics` counts the outcome.
"""
