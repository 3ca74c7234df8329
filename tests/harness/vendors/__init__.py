"""Local stand-ins for vendor REST APIs (Docker Hub, OpenShift/Kubernetes), answering with the
shapes, status codes and error bodies the vendors document, backed by what a test puts in them."""
