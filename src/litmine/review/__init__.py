"""What a maintainer reads and decides: decisions, the review queue, the digest, emerging topics."""
