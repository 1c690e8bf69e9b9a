"""TaskFlow tasks that tests put around the task under test."""
from taskflow import task as tf_task


class Provide(tf_task.Task):
    """Provides ``value`` under ``name`` to the later tasks of the flow."""

    def __init__(self, name, value):
        super().__init__(name='provide_' + name, provides=name)
        self.value = value

    def execute(self):
        return self.value


class Fail(tf_task.Task):
    """Fails, so that the tasks before it in the flow are reverted."""

    def execute(self):
        raise ValueError('later step failed')
