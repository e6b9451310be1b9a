# nbgrader configuration of the course; `lstmbook grade` copies it into the course
# directory (autograder/course/ by default) before every run.
c = get_config()  # noqa: F821  (nbgrader provides get_config)

c.CourseDirectory.course_id = "lstmbook"

# What students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A cell that runs longer than this is interrupted and counts as failed; the other
# cells and the other students go on.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True

# nbgrader gives zero to a test cell that wrote anything to stderr. A warning printed by
# NumPy, PyTorch or fastNLP is not a failure, nor is the line the PyTorch profiler logs
# when it starts or stops: drop stderr outputs of those kinds.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)^((\S.*:\d+: )?\w*Warning: |USDT:.*ActivityProfiler.*profiler_(start|stop))"
