"""The code that runs inside the sandbox, next to student code: :mod:`.runner` executes the
notebook and then the hidden checks, :mod:`.record` writes what the checks record. It imports
nothing from the rest of the grader (an import-linter contract): whatever a student does to
it can only change that student's own records."""
