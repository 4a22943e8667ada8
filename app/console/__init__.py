"""The web console for Dinas Sosial and supervisors: server-rendered pages in Bahasa Indonesia.

Same users, roles and area scoping as the API (the Principal and its permission table), the
same services for every read and write; the console only renders HTML and reads forms.
"""
