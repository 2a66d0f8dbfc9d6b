"""customer_mdm: customer master data management on a Delta Lake medallion with PySpark."""
from setuptools import find_packages, setup

setup(
    name="customer-mdm",
    version="0.1.0",
    description="Customer MDM on a Delta Lake medallion: bronze ingest, silver SCD2, entity resolution in gold",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    package_data={"customer_mdm": ["py.typed"]},
    python_requires=">=3.11",
    install_requires=[
        "pyspark>=4.2,<4.3",
        "deltalake>=1.6,<2",
        "pyarrow>=20",
        "pandas<3",
        "kafka-python>=3.0",
        "rapidfuzz>=3.14",
        "pyyaml>=6",
        "nameparser>=1.1",
        "phonenumbers>=9",
        "email-validator>=2",
        "usaddress-scourgify>=0.7",
        "nicknames>=1",
        "scipy>=1.14",
        "jellyfish>=1.1",
        "pycountry>=24",
    ],
)
