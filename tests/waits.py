"""How long a test waits for a process, a server or a condition before calling it hung.

One ceiling for every such wait: generous, because on a machine loaded to several times its cores a
`litmine` process that imports torch, or a server starting up, can take minutes; a ceiling is for a hang,
never a speed limit, and no test asserts how long anything took.
"""

CEILING = 900  # seconds
