"""Images as euca2ools 3.x bundles them: tar → SHA-1 → gzip → AES-128-CBC → parts + a signed manifest, and back."""
