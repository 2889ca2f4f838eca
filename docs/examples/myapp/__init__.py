"""The example application of the tutorial and the how-to guides."""
