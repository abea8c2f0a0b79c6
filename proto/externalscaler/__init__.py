"""KEDA's external-scaler contract (`externalscaler.ExternalScaler`), generated."""
