"""What autoencoders are used for, as plain functions and sklearn-style classes over a Model."""
