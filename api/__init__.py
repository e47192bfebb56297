"""HTTP API of sensor-hub: FastAPI app factory, routers, live streams, control-room page.

FastAPI is imported here and nowhere else in the project.
"""
