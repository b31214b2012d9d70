"""Training: the scenario library, training sessions and the debrief."""
