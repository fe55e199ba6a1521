"""A realistic multi-partner city feed with ground truth (`lastmile simulate`).

``city``: where people live and where depots are; ``plan``: what every partner
does in a day (orders, routes, positions, statuses); ``mess``: the real-world
faults (delays, duplicates, malformed records); ``truth``: what the pipeline
should find, computed without any pipeline code; ``emit``: JSON Lines files or
Kafka through the partner SDK, paced or as fast as possible.
"""
