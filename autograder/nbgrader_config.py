# nbgrader configuration of the course; `lstmbook grade` copies it into the course
# directory (autograder/course/ by default) before every run. nbgrader builds the student
# notebooks and the gradebook entries, and its Formgrader serves manual grading. Notebooks
# are NOT executed by nbgrader: `lstmbook grade` runs each one in a sandbox and judges the
# recorded results outside it (lstmbook/grading.py); its limits are options of that command.
c = get_config()  # noqa: F821  (nbgrader provides get_config)

c.CourseDirectory.course_id = "lstmbook"

# What students see in place of a solution.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
