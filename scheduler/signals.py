from django.dispatch import Signal

# Sent after every attempt reaches a final status. Arguments: run (a scheduler.models.Run).
run_finished = Signal()
