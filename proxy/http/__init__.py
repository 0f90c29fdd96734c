"""HTTP: the app's wiring, the endpoint handlers, authentication, response classes and the dashboard.

Nothing here decides a route or calls an upstream: handlers parse, hand the work to `proxy.pipeline`, render.
"""
