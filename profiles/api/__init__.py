"""The integrator API of the profiles app, one module per concept."""
