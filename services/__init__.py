"""The platform's services, one package each; a service never imports another."""
