"""What a recorded session showed: its summary, episodes and time reference, the review's view of it,
the patient's course, and downsampling for long traces."""
