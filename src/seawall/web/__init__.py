"""The HTTP edge shared by every domain: dependencies, error mapping, middleware."""
