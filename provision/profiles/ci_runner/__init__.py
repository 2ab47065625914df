"""The CI runner profile: the Docker deploy plus a runner user, pruning and a buildx builder."""
